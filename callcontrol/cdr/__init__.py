"""CDRs out: the record every export and the API show, its file formats, ``callcontrol cdr``."""
