"""Pure-Python science of ICHweb (SCIENCE.md). Never imports Django."""
