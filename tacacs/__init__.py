"""TACACS+ protocol core (RFC 8907; RFC 9887 for TLS), sans-I/O.

Modules: ``constants`` (code points, limits), ``errors`` (DecodeError, ProtocolError,
LocalProtocolError), ``packet`` (header, obfuscation, the seven bodies as pull/push pairs),
``args`` (AV pairs, authorization merge, command lines), ``chap`` (CHAP/MS-CHAP START data),
``state`` (the session transition table), ``events`` and ``connection`` (ServerConnection).
Only a future ``aio.py`` may do I/O.
"""
