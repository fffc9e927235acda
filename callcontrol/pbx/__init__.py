"""The PBX behind the numbers a customer owns: ring groups, hunt lists, forwarding, time rules,
IVR menus (and the queue seam), as sans-I/O types (``model``) and the time-period grammar
(``period``). Routing decisions over them are ``callcontrol.b2b.routing``."""
