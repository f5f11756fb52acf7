"""The language server behind ``mfile lsp``: ``analysis.py`` (what an M-File means at a position,
no LSP types) and ``server.py`` (pygls over stdio); imports the compiler and the layers below it.
"""
