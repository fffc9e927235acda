"""The back-to-back user agent: intake, one call's signalling, its sides, media anchoring, routing."""
