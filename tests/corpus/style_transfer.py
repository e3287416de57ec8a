# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# Neural style transfer (Gatys et al.) in the way the tutorials write it, with a small random
# conv net (fixed seed) in place of VGG: features collected by forward hooks into a dict, Gram
# matrices with torch.mm, content and style MSE losses, and the image itself optimised with
# L-BFGS and a closure, clamped to [0, 1] under no_grad after each step. The content and style
# images are synthetic (a smooth gradient with a disc; stripes).
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

seed = int(os.environ.get("SEED", 0))
device = "cuda" if torch.cuda.is_available() else "cpu"
imsize = 32

cnn = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(inplace=True),
    nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(inplace=True),
    nn.MaxPool2d(2, 2),
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(inplace=True),
    nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True),
    nn.MaxPool2d(2, 2),
    nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True),
).to(device)
# "pretrained" weights: drawn once with NumPy and loaded, so every run sees the same network
wrng = np.random.RandomState(0)
state = {k: torch.from_numpy((wrng.randn(*v.shape) * (np.sqrt(2.0 / np.prod(v.shape[1:])) if v.dim() > 1 else 0.01)).astype(np.float32))
         for k, v in cnn.state_dict().items()}
cnn.load_state_dict(state)
cnn.requires_grad_(False)
cnn.eval()

content_layers = {"7": "conv4"}
style_layers = {"0": "conv1", "2": "conv2", "5": "conv3", "7": "conv4", "10": "conv5"}

features = {}


def save_output(name):
    def hook(module, input, output):
        features[name] = output
    return hook


for idx, layer in cnn.named_children():
    if idx in ("0", "2", "5", "7", "10"):
        layer.register_forward_hook(save_output(style_layers[idx]))


def make_images():
    yy, xx = np.mgrid[0:imsize, 0:imsize].astype(np.float32) / (imsize - 1)
    content = np.stack([xx, yy, 1 - xx], 0)
    disc = ((xx - 0.5) ** 2 + (yy - 0.5) ** 2) < 0.08
    content[:, disc] = np.array([0.9, 0.2, 0.2], dtype=np.float32)[:, None]
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (xx + yy) * 4)
    style = np.stack([stripes, 1 - stripes, 0.5 * stripes + 0.25], 0).astype(np.float32)
    return torch.from_numpy(content)[None], torch.from_numpy(style)[None]


content_img, style_img = make_images()
content_img, style_img = content_img.to(device), style_img.to(device)

# ImageNet-style normalisation in front of the net, as the tutorial does
mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(-1, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225], device=device).view(-1, 1, 1)


def run_cnn(img):
    features.clear()
    cnn((img - mean) / std)
    return dict(features)


def gram_matrix(input):
    a, b, c, d = input.size()  # a=batch size(=1), b=number of feature maps, (c,d)=dimensions
    feats = input.view(a * b, c * d)
    G = torch.mm(feats, feats.t())
    return G.div(a * b * c * d)


def gram_batched(input):
    b, c, h, w = input.size()
    f = input.view(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


with torch.no_grad():
    content_targets = {k: v.detach() for k, v in run_cnn(content_img).items()}
    style_targets = {k: gram_matrix(v).detach() for k, v in run_cnn(style_img).items()}
    style_targets_b = {k: gram_batched(v).detach() for k, v in run_cnn(style_img).items()}

style_weight = 1e4
content_weight = 10.0

# the seed only perturbs the starting image a little (the tutorial starts from the content image)
torch.manual_seed(seed)
input_img = content_img.clone() + 0.02 * torch.randn(content_img.size(), device=device)
input_img = input_img.clamp(0, 1).requires_grad_(True)
optimizer = optim.LBFGS([input_img])


def total_loss(img):
    feats = run_cnn(img)
    style_score = 0
    content_score = 0
    for name in style_layers.values():
        g = gram_matrix(feats[name])
        style_score = style_score + F.mse_loss(g, style_targets[name])
        if name == "conv1":  # the batched Gram must agree with the 2-D one
            style_score = style_score + F.mse_loss(gram_batched(feats[name]), style_targets_b[name])
    for name in content_layers.values():
        content_score = content_score + F.mse_loss(feats[name], content_targets[name])
    return style_weight * style_score, content_weight * content_score


with torch.no_grad():
    s0, c0 = total_loss(input_img)
print(f"initial loss {(s0 + c0).item():.6f}")

num_steps = 4  # L-BFGS steps of up to 20 evaluations each
evals = [0]


def closure():
    optimizer.zero_grad()
    style_score, content_score = total_loss(input_img)
    loss = style_score + content_score
    loss.backward()
    evals[0] += 1
    return loss


for step in range(num_steps):
    optimizer.step(closure)
    # keep the image a valid image between L-BFGS steps
    with torch.no_grad():
        input_img.clamp_(0, 1)
    with torch.no_grad():
        style_score, content_score = total_loss(input_img)
    print("step {} ({} evaluations): Style Loss : {:4f} Content Loss: {:4f}".format(
        step, evals[0], style_score.item(), content_score.item()))

with torch.no_grad():
    input_img.clamp_(0, 1)
    s, c = total_loss(input_img)
print(f"final loss {(s + c).item():.6f}")
