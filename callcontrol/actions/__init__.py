"""Call control actions: what the API methods and a phone's REFER do to live calls."""
