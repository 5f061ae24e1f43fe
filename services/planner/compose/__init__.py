"""The Compose importer: a Compose file in, a native `ChartRequirements` out.

`importer` walks the document; `service` holds the registry of service keys, one handler
module per concern (deploy, health, security, storage, secrets, units); `load` parses and
interpolates safely.
"""
