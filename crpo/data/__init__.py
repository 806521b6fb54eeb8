"""Data layer: video-QA items, their videos and counterfactual clips. The bottom layer: imports no other crpo package.

- items.py          the item schema (one JSON object per line), JSONL io, DataError / ConfigError
- importers.py      `crpo data import`: Video-R1, MVBench / TVBench, TimeBlind, TempCompass, Vinoground -> items
- importers_tables.py  the table formats: MVP, VITATECS, DyBench per-category files, verl / EasyR1 parquet rows
- import_rows.py    row reading shared by both importer modules (JSON / JSONL rows, video paths, option letters)
- check.py          `crpo data check`: every row validated, every video opened, over-long questions caught
- text_budget.py    prompt-text length, counted before any model call
- video.py          decoding (PyAV) into a `Clip`, sampling, the decode cache
- video_write.py    `write_video`: the project's own clips, lossless (decoded frames = the input)
- counterfactual.py `counterfactual(clip, "hflip" | "reverse" | "hflip+reverse" | "shuffle")` on decoded frames
- prompts.py        the question text a model sees (options lettered, answer template)

Public names: Item, load_items, write_jsonl, DataError, ConfigError (items); load_clip, Clip (video); write_video (video_write);
counterfactual (counterfactual); question_text (prompts).
"""
