"Hand computations straight from a Hugging Face forward pass, independent of msma_lab.extract"
import numpy as np
import torch


def hf_token_states(lm, text):
    """Per-token hidden states of one text from a plain HF forward (no padding, no msma hooks).

    Returns ({stack: array (hidden states, tokens, d)}, keep) where keep marks the content
    (non-special) tokens.  For T5 the decoder is teacher-forced with the text shifted right, so
    decoder position t holds the state that predicts token t."""
    enc = lm.tokenizer(text, return_special_tokens_mask=True)
    ids = torch.tensor([enc["input_ids"]])
    keep = np.array([1 - s for s in enc["special_tokens_mask"]], dtype=bool)
    kw = {}
    if lm.family == "encoder-decoder":
        kw["decoder_input_ids"] = torch.tensor([[lm.config.decoder_start_token_id] + enc["input_ids"][:-1]])
    with torch.no_grad():
        r = lm.model(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True, **kw)
    hs = ({"encoder": r.encoder_hidden_states, "decoder": r.decoder_hidden_states}
          if lm.family == "encoder-decoder" else {next(iter(lm.stacks)): r.hidden_states})
    return {s: torch.stack([x[0].float() for x in h]).numpy() for s, h in hs.items()}, keep


def content_tokens(lm, text):
    "Ids of the content (non-special) tokens of `text`"
    enc = lm.tokenizer(text, return_special_tokens_mask=True)
    return [i for i, s in zip(enc["input_ids"], enc["special_tokens_mask"]) if not s]
