"""TCP in the browser: the trace as a JSON event stream (events.py), kept bounded (log.py), served
over Server-Sent Events (server.py) to a static page (static/), stepped for labs (lab.py), and
exported as one offline HTML file (page.py). docs/web-events.md describes the events."""
