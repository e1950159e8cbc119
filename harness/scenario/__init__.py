"""The scenario language: frozen typed objects (`model`) parsed and validated from YAML (`load`)."""
