"""Modeling: input templates, encoding with entity positions, collation, heads, losses, type restriction.

Submodules (import them directly; `heads`, `losses` and `collate` import torch):

- `templates`: `Marker`, `TemplateConfig`, `special_tokens`, `prepare_tokenizer`, `render`.
- `encoding`: `encode_examples`, `encode_dataset` (cached `datasets.Dataset`), entity-aware truncation.
- `collate`: `Collator` (per-batch padding).
- `heads`: `RelationClassifier`, `build_model`, `freeze_lower_layers`, `save_model`, `load_model`.
- `losses`: `build_loss`.
- `restrict`: `type_mask`, `apply_type_mask`.
"""
