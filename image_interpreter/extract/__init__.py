"""Extractors: image -> priors (pose, depth, objects, captions, edges, palette).

Each extractor registers itself by name, loads its model lazily through `image_interpreter.models`
and returns data (keypoints, artifact references), not only pictures. Must not know about chat.
"""
