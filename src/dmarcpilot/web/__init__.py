"""The dashboard and its JSON API (ASGI): pages for people, a JSON twin of each under ``/api/``.

The web layer reads through ``store`` and ``analysis``/``policy`` only; it
never runs SQL itself. Report contents are attacker-controlled: templates
autoescape everything and the Content-Security-Policy allows no inline script.
"""
