"""M-File source -> typed ``ir.Program``: names, lowering, headers, types, diagnostics E1xx-E3xx.
Imports ``mfile_grammar``, ``plan`` and ``diagnostics``; nothing of codegen, runtime or commands."""
