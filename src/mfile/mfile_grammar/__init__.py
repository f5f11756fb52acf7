"""M-File source text -> AST with spans (lark grammar, indentation, rejected constructs, E0xx).
Imports only ``mfile.diagnostics``."""
