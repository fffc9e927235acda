"""The media plane: RTP endpoints, relaying, prompts, music on hold and DTMF detection.

Knows nothing of SIP or accounts; the B2BUA hands it the negotiated facts
(:class:`ivr.payload.PayloadFacts`).  Modules, one idea each:

- ``rtp``: RTP header parse/build, RTCP recognition
- ``g711``, ``au``: G.711 tables, Sun ``.au`` files
- ``dtmf`` (RFC 4733), ``inband`` (Goertzel-style tone detector), ``dtmf_dedup``, ``dtmf_tap``
- ``ports``, ``endpoint``, ``relay``: sockets and forwarding
- ``player``, ``moh``, ``prompts``, ``http_cache``: playback and prompt fetching
"""
