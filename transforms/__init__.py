"""newsbeam's stages, one subpackage each, in the order data flows.

``core`` (records, settings, helpers) -> ``net`` (HTTP and WARC transports) -> ``feeds`` ->
``fetch`` -> ``extract`` -> ``language`` -> ``dedup`` -> ``sinks``. A package imports only the ones
before it (tests/test_architecture.py); ``docs/ARCHITECTURE.md`` draws the flow.
"""
