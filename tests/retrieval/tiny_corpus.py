"""A tiny hand-written corpus and easy queries for retrieval tests (imported by conftest and tests)."""

from __future__ import annotations

from asearcher.api.documents import Passage

TINY = [
    Passage("p0", "Mona Lisa", "The Mona Lisa is a portrait painting by the Italian artist Leonardo da Vinci.", "u/mona"),
    Passage("p1", "Eiffel Tower", "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.", "u/eiffel"),
    Passage("p2", "Photosynthesis", "Photosynthesis is how plants turn sunlight, water and carbon dioxide into sugar."),
    Passage("p3", "Great Wall of China", "The Great Wall of China is a series of fortifications built across northern China."),
    Passage("p4", "Python (programming language)", "Python is a high-level programming language created by Guido van Rossum."),
    Passage("p5", "Moon", "The Moon is Earth's only natural satellite; its gravity drives the ocean tides."),
    Passage("p6", "Mount Everest", "Mount Everest is Earth's highest mountain above sea level, in the Himalayas."),
    Passage("p7", "Jazz", "Jazz is a music genre that originated in New Orleans in the late 19th century."),
    Passage("p8", "Penicillin", "Penicillin is an antibiotic discovered by Alexander Fleming in 1928."),
    Passage("p9", "Amazon River", "The Amazon River in South America is the largest river by discharge volume."),
    Passage("p10", "Chess", "Chess is a board game for two players on a checkered board of 64 squares."),
    Passage("p11", "Volcano", "A volcano is a rupture in the crust of a planet where lava and ash escape."),
]

# (query, id of the passage that must rank first): easy questions, answerable lexically and semantically.
EASY = [
    ("Who painted the Mona Lisa?", "p0"),
    ("tallest mountain in the Himalayas", "p6"),
    ("who discovered penicillin", "p8"),
    ("which tower stands in Paris", "p1"),
    ("how do plants make sugar from sunlight", "p2"),
]
