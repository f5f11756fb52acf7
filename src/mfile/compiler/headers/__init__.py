"""MantikHeaders: safe YAML with positions, field and type validation (E3xx), resources,
and the item catalogue over the item roots. Part of the compiler; imports ``plan`` below it."""
