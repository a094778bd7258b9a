"""The web console and REST API (FastAPI, server-rendered Jinja2 pages): ``web.app.create_app``.

Uses ``nac.services``, ``nac.db`` and ``policy``; never the protocol packages or ``nac.main``.
"""
