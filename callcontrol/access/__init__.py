"""Who a SIP peer is: digest authentication, login throttling and the registrar."""
