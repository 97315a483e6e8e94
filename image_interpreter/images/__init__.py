"""Images in and out: safe decoding of untrusted uploads, deterministic PNG for the store."""

from image_interpreter.images.load import encode_png, load_image, load_image_file, read_image_file

__all__ = ["encode_png", "load_image", "load_image_file", "read_image_file"]
