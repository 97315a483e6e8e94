"""`python -m image_interpreter.cli` runs the same command as `image-interpreter`."""

from image_interpreter.cli.main import run

run()
