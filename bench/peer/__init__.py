"""Peers of chronohook run on the same machine and workload, so the docs can compare like with like.

``celery_app``: Celery with a Redis broker, the tool most users would otherwise reach for to run a webhook
later (``apply_async(eta=...)``); driven by ``python -m bench.peer_celery``.
"""
