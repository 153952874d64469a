"""An independent PyTorch forward pass of CLIP, used to check vlm-compat's towers.

Reads an OpenAI / open_clip layout safetensors file with its own parser (the safetensors package is not
required), runs both towers in float64 and prints the features as JSON.
Usage: python3 clip_reference.py WEIGHTS INPUT_JSON
INPUT_JSON holds {"ids": [[...]], "pixels": [n][h][w][3], "heads": {"text": int, "vision": int},
"activation": "quick_gelu" | "gelu"}.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    body = data[8 + header_len :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        array = np.frombuffer(body[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.astype(np.float64))
    return tensors


def activation(x, kind):
    return x * torch.sigmoid(1.702 * x) if kind == "quick_gelu" else F.gelu(x)


def block(x, w, prefix, heads, kind, causal):
    width = x.shape[-1]
    h = F.layer_norm(x, (width,), w[prefix + "ln_1.weight"], w[prefix + "ln_1.bias"], 1e-5)
    qkv = h @ w[prefix + "attn.in_proj_weight"].T + w[prefix + "attn.in_proj_bias"]
    q, k, v = qkv.split(width, dim=-1)
    n, t, _ = x.shape
    d = width // heads
    q, k, v = (z.reshape(n, t, heads, d).transpose(1, 2) for z in (q, k, v))
    scores = q @ k.transpose(-1, -2) / d**0.5
    if causal:
        scores = scores + torch.full((t, t), float("-inf"), dtype=x.dtype).triu(1)
    a = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, t, width)
    x = x + a @ w[prefix + "attn.out_proj.weight"].T + w[prefix + "attn.out_proj.bias"]
    h = F.layer_norm(x, (width,), w[prefix + "ln_2.weight"], w[prefix + "ln_2.bias"], 1e-5)
    h = activation(h @ w[prefix + "mlp.c_fc.weight"].T + w[prefix + "mlp.c_fc.bias"], kind)
    return x + h @ w[prefix + "mlp.c_proj.weight"].T + w[prefix + "mlp.c_proj.bias"]


def layers(w, prefix):
    return len({k[len(prefix) :].split(".")[0] for k in w if k.startswith(prefix)})


def encode_text(w, ids, heads, kind):
    ids = torch.tensor(ids, dtype=torch.long)
    x = w["token_embedding.weight"][ids] + w["positional_embedding"]
    for i in range(layers(w, "transformer.resblocks.")):
        x = block(x, w, f"transformer.resblocks.{i}.", heads, kind, causal=True)
    x = F.layer_norm(x, (x.shape[-1],), w["ln_final.weight"], w["ln_final.bias"], 1e-5)
    pooled = x[torch.arange(x.shape[0]), ids.argmax(dim=-1)]
    return pooled @ w["text_projection"]


def encode_image(w, pixels, heads, kind):
    x = torch.tensor(pixels, dtype=torch.float64).permute(0, 3, 1, 2)
    conv = w["visual.conv1.weight"]
    x = F.conv2d(x, conv, stride=conv.shape[-1])
    x = x.flatten(2).transpose(1, 2)
    cls = w["visual.class_embedding"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + w["visual.positional_embedding"]
    x = F.layer_norm(x, (x.shape[-1],), w["visual.ln_pre.weight"], w["visual.ln_pre.bias"], 1e-5)
    for i in range(layers(w, "visual.transformer.resblocks.")):
        x = block(x, w, f"visual.transformer.resblocks.{i}.", heads, kind, causal=False)
    x = F.layer_norm(x[:, 0], (x.shape[-1],), w["visual.ln_post.weight"], w["visual.ln_post.bias"], 1e-5)
    return x @ w["visual.proj"]


def main():
    weights = read_safetensors(sys.argv[1])
    with open(sys.argv[2]) as f:
        request = json.load(f)
    kind = request["activation"]
    with torch.no_grad():
        text = encode_text(weights, request["ids"], request["heads"]["text"], kind)
        image = encode_image(weights, request["pixels"], request["heads"]["vision"], kind)
    json.dump({"text": text.tolist(), "image": image.tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
