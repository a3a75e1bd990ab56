"""The induction probe: a random token sequence repeated twice, traced like any input.

Induction heads (Olsson et al. 2022, "In-context Learning and Induction Heads") attend
from a token to the token that followed its earlier occurrence ("… A B … A" → B), the
mechanism behind continuing a repeated text. Ordinary text has too few repeats to show
them, so the usual test is a sequence of random tokens from the model's own vocabulary,
repeated once: on its second copy an induction head puts its weight on position
``i − n + 1`` (n the length of one copy), and nothing else in the input points there.
``explorer.analysis.head_stats``' ``induction_share`` of the probe's trace is that score.

The probe is given to the model as token ids, not text (decoding random ids and encoding
the text again would not give the same ids back), inside the special tokens the
tokenizer puts around any text ([CLS] … [SEP], BOS …, … </s>). It goes where the model
reads text: the encoder of encoder-only and encoder–decoder models (whose decoder is
teacher-forced on the same sequence after its start token) and the decoder of
decoder-only ones.
"""

from __future__ import annotations

import numpy as np
import torch

from .inference import AttentionModel, _maps
from .probes import TraceProbe
from .tokenization import Encoded
from .trace import Trace

DEFAULT_PROBE_LENGTH = 24
DEFAULT_PROBE_SEED = 0


def probe_ids(model: AttentionModel, length: int = DEFAULT_PROBE_LENGTH, seed: int = DEFAULT_PROBE_SEED) -> list[int]:
    """``length`` distinct random non-special ids, twice, inside the tokenizer's special tokens.

    ``length`` is cut so the whole probe fits the model's maximum input; distinct ids make
    the token after each earlier occurrence unique.
    """
    tokenizer = model.tokenizer
    marked = tokenizer.encode("a")
    content = [index for index, special in enumerate(marked.special) if not special]
    start, end = (content[0], content[-1] + 1) if content else (len(marked.ids), len(marked.ids))
    before, after = marked.ids[:start], marked.ids[end:]
    room = min(tokenizer.max_length, model.config.max_positions) - len(before) - len(after) - 1
    candidates = np.setdiff1d(np.arange(min(tokenizer.vocab_size, model.config.vocab_size)),
                              np.fromiter(tokenizer.special_ids, dtype=np.int64, count=len(tokenizer.special_ids)))
    length = max(1, min(length, room // 2, len(candidates)))
    if len(candidates) == 0 or room < 2:
        raise ValueError("this model's vocabulary or maximum length leaves no room for an induction probe")
    chosen = np.random.default_rng(seed).choice(candidates, size=length, replace=False).tolist()
    return [*before, *chosen, *chosen, *after]


@torch.inference_mode()
def trace_probe(model: AttentionModel, length: int = DEFAULT_PROBE_LENGTH, seed: int = DEFAULT_PROBE_SEED) -> Trace:
    """The trace of the induction probe (``probe_ids``), at float32, with a notice saying what it is."""
    ids = probe_ids(model, length, seed)
    config = model.config
    special = [token_id in model.tokenizer.special_ids for token_id in ids]
    encoded = Encoded(ids=ids, tokens=model.tokenizer.tokens(ids), type_ids=[0] * len(ids), special=special,
                      truncated=False)
    copy = (len(ids) - sum(special)) // 2
    notices = [f"The induction probe: {copy} random tokens of the model's vocabulary, repeated twice (seed {seed})."]
    model._set_threads()
    if config.architecture == "encoder":
        return model._trace_encoder(encoded, notices, "float32", None)
    if config.architecture == "decoder":
        return model._trace_decoder(encoded, notices, "float32", None)
    decoder_ids = [config.start_token_id, *[i for i, s in zip(ids, special) if not s]][: config.max_positions]
    recorder = model._recorder("float32", None, len(ids), len(decoder_ids))
    with TraceProbe(model.network) as probe:
        encoder_output, decoder_output = model.network(model._tensor(ids), model._tensor(decoder_ids), recorder=recorder)
    return probe.attach(Trace(
        model_name=model.name,
        architecture=config.architecture,
        encoder=model._input_axis(encoded),
        decoder=model._axis(decoder_ids),
        attention={
            "encoder_self": _maps(encoder_output.self_attention, config, "encoder_self"),
            "decoder_self": _maps(decoder_output.self_attention, config, "decoder_self"),
            "cross": _maps(decoder_output.cross_attention, config, "cross"),
        },
        notices=notices,
        decoder_hidden=decoder_output.hidden[0].float().cpu().numpy(),
    ))
