"""The live web view (``swarm-node --web-addr``; issue 13 item 4).

- board.py: store objects and changes → the page's rows, patches and events (pure);
"""
