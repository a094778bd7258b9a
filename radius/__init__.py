"""RADIUS protocol core (RFC 2865/2866/2869/3579/5080/5997), sans-I/O.

Only ``radius.aio`` touches asyncio or sockets.
"""
