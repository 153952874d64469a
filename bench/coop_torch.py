"""Time one CoOp training step in plain PyTorch, for comparison with bench/coop.mjs.

Reads a JSON request from standard input and prints one JSON object on standard output. The request holds:
threads, repetitions, config (the ClipConfig of bench/shared.mjs), ids ([classes][77] token ids of the
prompts "X X ... X <class name>.", padded to the context length as clip.tokenize pads them), eot
([classes]), contextTokens, images, learningRate, momentum and weightDecay.

The step is CoOp's (KaiyangZhou/CoOp, trainers/coop.py). Every prompt is start-of-text, a learned unified
context and the class tokens. The frozen text transformer encodes all 77 positions, the features pooled at
end-of-text are scored against image features, and SGD updates the context. Image features are random
and fixed, as vlm-compat's training engine caches frozen image features; CoOp's own trainer runs the image
tower at every step, which this step leaves out on both sides. Weights are random float32 (only the shapes
matter); only the context requires a gradient.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualBlock(nn.Module):
    """OpenAI CLIP's pre-norm block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, width, heads, mlp_width, eps):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, eps=eps)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width, eps=eps)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_width), QuickGELU(), nn.Linear(mlp_width, width))

    def forward(self, x, mask):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class TextEncoder(nn.Module):
    """CoOp's TextEncoder: prompt embeddings [classes, 77, width] → features [classes, embedDim]."""

    def __init__(self, config):
        super().__init__()
        text = config["text"]
        width, eps = text["width"], text["layerNormEps"]
        self.positional_embedding = nn.Parameter(torch.randn(text["contextLength"], width) * 0.01)
        self.blocks = nn.ModuleList(ResidualBlock(width, text["heads"], text["mlpWidth"], eps) for _ in range(text["layers"]))
        self.ln_final = nn.LayerNorm(width, eps=eps)
        self.text_projection = nn.Parameter(torch.randn(width, config["embedDim"]) * 0.02)
        length = text["contextLength"]
        self.register_buffer("mask", torch.full((length, length), float("-inf")).triu(1))

    def forward(self, prompts, eot):
        x = prompts + self.positional_embedding
        x = x.permute(1, 0, 2)  # [classes, tokens, width] → [tokens, classes, width], as CLIP's transformer takes it
        for block in self.blocks:
            x = block(x, self.mask)
        x = self.ln_final(x.permute(1, 0, 2))
        return x[torch.arange(x.shape[0]), eot] @ self.text_projection


class PromptLearner(nn.Module):
    """A unified context of n tokens between the start-of-text token and the class tokens (class token at the end)."""

    def __init__(self, token_embedding, ids, context_tokens):
        super().__init__()
        width = token_embedding.weight.shape[1]
        self.ctx = nn.Parameter(torch.randn(context_tokens, width) * 0.02)
        with torch.no_grad():
            embedding = token_embedding(ids)
        self.register_buffer("token_prefix", embedding[:, :1, :])
        self.register_buffer("token_suffix", embedding[:, 1 + context_tokens :, :])

    def forward(self):
        classes = self.token_prefix.shape[0]
        ctx = self.ctx.unsqueeze(0).expand(classes, -1, -1)
        return torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)


def main():
    request = json.load(sys.stdin)
    torch.set_num_threads(request["threads"])
    torch.manual_seed(0)
    config = request["config"]
    text = config["text"]

    ids = torch.tensor(request["ids"], dtype=torch.long)
    eot = torch.tensor(request["eot"], dtype=torch.long)
    classes = ids.shape[0]
    token_embedding = nn.Embedding(text["vocabSize"], text["width"])
    encoder = TextEncoder(config).requires_grad_(False)
    learner = PromptLearner(token_embedding, ids, request["contextTokens"])
    logit_scale = 100.0

    images = request["images"]
    image_features = F.normalize(torch.randn(images, config["embedDim"]), dim=-1)
    labels = torch.randint(0, classes, (images,))
    optimizer = torch.optim.SGD(
        learner.parameters(), lr=request["learningRate"], momentum=request["momentum"], weight_decay=request["weightDecay"]
    )

    def step():
        text_features = F.normalize(encoder(learner(), eot), dim=-1)
        loss = F.cross_entropy(logit_scale * image_features @ text_features.t(), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    step()  # warm-up
    wall, cpu = [], []
    for _ in range(request["repetitions"]):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        step()
        wall.append((time.perf_counter() - wall_start) * 1000)
        cpu.append((time.process_time() - cpu_start) * 1000)

    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "classes": classes,
        "sequenceLength": ids.shape[1],
        "medianMs": statistics.median(wall),
        "runsMs": wall,
        "cpuMedianMs": statistics.median(cpu),
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
