"""The live web view (``swarm-node --web-addr``; issue 13 item 4).

- board.py: store objects and changes → the page's rows, patches and events (pure);
- auth.py: who may do what: read-only unless the web token (pure);
- logs.py: a task's log tail through the control API's log calls (pure; calls injected);
- feed.py: the board kept from the store's watch, pushed to the open pages' streams;
- app.py: the aiohttp Application (routes, headers, the write), served by actors/http/;
- child.py: the manager tree's ``web`` child, the flags' parsing, the control connection;
- static/: the page, its script and style sheet (no CDN: nothing external is reachable).
"""
