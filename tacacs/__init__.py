"""TACACS+ protocol core (RFC 8907), sans-I/O. Arrives with the TACACS+ issue."""
