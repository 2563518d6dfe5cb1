"""Pure-Python science of ICHweb (docs/science.md). Never imports Django."""
