"""One module per CLI verb (check, compile + graph, run, submit, status, items): each wires
the layers below for one command; ``cli.py`` only parses arguments and calls them."""
