"""The ADE20K (SceneParse150) classes and colours: what the segmentation ControlNet was trained on.

lllyasviel's seg ControlNet learnt from UniFormer/UperNet maps coloured with this palette, so a
class-index map must be drawn in exactly these colours. Index i is class i of the 150 (0-based,
'wall' = 0, as SegFormer/UperNet output them); the names are mmsegmentation's. Extractors and the
interpreter go label <-> index through `ade20k_index` / `ade20k_label`.
"""

from __future__ import annotations

import difflib

from image_interpreter.errors import PriorsError

# fmt: off
ADE20K_CLASSES: tuple[str, ...] = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane",
    "grass",  # 0-9
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant",
    "curtain", "chair",  # 10-19
    "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug",
    "field",  # 20-29
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub",
    "railing", "cushion",  # 30-39
    "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink",
    "skyscraper", "fireplace",  # 40-49
    "refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table",
    "pillow", "screen door", "stairway",  # 50-59
    "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower", "book",
    "hill", "bench",  # 60-69
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat",
    "bar", "arcade machine", "hovel",  # 70-79
    "bus", "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight",
    "booth", "television receiver",  # 80-89
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator",
    "ottoman", "bottle", "buffet",  # 90-99
    "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer",
    "plaything", "swimming pool",  # 100-109
    "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle",
    "oven", "ball",  # 110-119
    "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle",
    "lake", "dishwasher",  # 120-129
    "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray",
    "ashcan", "fan",  # 130-139
    "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator",
    "glass", "clock", "flag",  # 140-149
)

ADE20K_PALETTE: tuple[tuple[int, int, int], ...] = (
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3),  # 0-4
    (120, 120, 80), (140, 140, 140), (204, 5, 255), (230, 230, 230), (4, 250, 7),  # 5-9
    (224, 5, 255), (235, 255, 7), (150, 5, 61), (120, 120, 70), (8, 255, 51),  # 10-14
    (255, 6, 82), (143, 255, 140), (204, 255, 4), (255, 51, 7), (204, 70, 3),  # 15-19
    (0, 102, 200), (61, 230, 250), (255, 6, 51), (11, 102, 255), (255, 7, 71),  # 20-24
    (255, 9, 224), (9, 7, 230), (220, 220, 220), (255, 9, 92), (112, 9, 255),  # 25-29
    (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10),  # 30-34
    (7, 255, 255), (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7),  # 35-39
    (255, 122, 8), (0, 255, 20), (255, 8, 41), (255, 5, 153), (6, 51, 255),  # 40-44
    (235, 12, 255), (160, 150, 20), (0, 163, 255), (140, 140, 140), (250, 10, 15),  # 45-49
    (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0), (153, 255, 0),  # 50-54
    (0, 0, 255), (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255),  # 55-59
    (11, 200, 200), (255, 82, 0), (0, 255, 245), (0, 61, 255), (0, 255, 112),  # 60-64
    (0, 255, 133), (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0),  # 65-69
    (0, 143, 255), (51, 255, 0), (0, 82, 255), (0, 255, 41), (0, 255, 173),  # 70-74
    (10, 0, 255), (173, 255, 0), (0, 255, 153), (255, 92, 0), (255, 0, 255),  # 75-79
    (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20), (255, 184, 184),  # 80-84
    (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204), (0, 255, 194),  # 85-89
    (0, 255, 82), (0, 10, 255), (0, 112, 255), (51, 0, 255), (0, 194, 255),  # 90-94
    (0, 122, 255), (0, 255, 163), (255, 153, 0), (0, 255, 10), (255, 112, 0),  # 95-99
    (143, 255, 0), (82, 0, 255), (163, 255, 0), (255, 235, 0), (8, 184, 170),  # 100-104
    (133, 0, 255), (0, 255, 92), (184, 0, 255), (255, 0, 31), (0, 184, 255),  # 105-109
    (0, 214, 255), (255, 0, 112), (92, 255, 0), (0, 224, 255), (112, 224, 255),  # 110-114
    (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0), (255, 0, 163),  # 115-119
    (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0), (255, 0, 235),  # 120-124
    (245, 0, 255), (255, 0, 122), (255, 245, 0), (10, 190, 212), (214, 255, 0),  # 125-129
    (0, 204, 255), (20, 0, 255), (255, 255, 0), (0, 153, 255), (0, 41, 255),  # 130-134
    (0, 255, 204), (41, 0, 255), (41, 255, 0), (173, 0, 255), (0, 245, 255),  # 135-139
    (71, 0, 255), (122, 0, 255), (0, 255, 184), (0, 92, 255), (184, 255, 0),  # 140-144
    (0, 133, 255), (255, 214, 0), (25, 194, 194), (102, 255, 0), (92, 0, 255),  # 145-149
)
# fmt: on

assert len(ADE20K_CLASSES) == len(ADE20K_PALETTE) == 150

_INDEX = {name: index for index, name in enumerate(ADE20K_CLASSES)}


def ade20k_index(label: str) -> int:
    """The class index of an ADE20K label ('person' -> 12); case and spacing do not matter."""
    key = " ".join(label.lower().replace("_", " ").split())
    try:
        return _INDEX[key]
    except KeyError:
        close = difflib.get_close_matches(key, ADE20K_CLASSES, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise PriorsError(
            f"'{label}' is not one of the 150 ADE20K classes the segmentation ControlNet knows."
            f"{hint} The full list is image_interpreter.priors.render.ade20k.ADE20K_CLASSES."
        ) from None


def ade20k_label(index: int) -> str:
    """The ADE20K label of a class index (12 -> 'person')."""
    if not 0 <= index < len(ADE20K_CLASSES):
        raise PriorsError(
            f"Class index {index} is outside ADE20K's 0-149; the map may use another palette."
        )
    return ADE20K_CLASSES[index]
