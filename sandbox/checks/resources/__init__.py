"""The `/v1` resources of the check provider sandbox, one module each."""
