# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A tiny Vision Transformer in the style of the popular from-scratch ViT implementations:
# conv patch embedding, a cls token and learned position embedding, pre-norm blocks with
# hand-written multi-head attention, trunc_normal_ init through self.apply, AdamW with a
# no-weight-decay parameter group, linear warmup + cosine decay via LambdaLR, grad clipping.
# Data: synthetic 1x16x16 stripe images; the class is the stripes' orientation.
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

seed = int(os.environ.get('SEED', 0))
torch.manual_seed(seed)
device = "cuda" if torch.cuda.is_available() else "cpu"

IMG = 16
NUM_CLASSES = 4


def make_stripes(n, generator=None, img=IMG):
    """Sinusoidal stripes at 0, 45, 90 or 135 degrees, random frequency and phase, plus noise."""
    labels = torch.randint(0, NUM_CLASSES, (n,), generator=generator)
    angles = labels.float() * (math.pi / 4)
    freq = 0.6 + 0.6 * torch.rand(n, generator=generator)
    phase = 2 * math.pi * torch.rand(n, generator=generator)
    coords = torch.arange(img).float()
    yy, xx = torch.meshgrid(coords, coords, indexing='ij')
    proj = (xx[None] * torch.cos(angles)[:, None, None] + yy[None] * torch.sin(angles)[:, None, None])
    imgs = torch.sin(freq[:, None, None] * proj + phase[:, None, None])
    imgs = imgs + 0.3 * torch.randn(n, img, img, generator=generator)
    return imgs.unsqueeze(1), labels


def drop_path(x, drop_prob: float = 0., training: bool = False):
    """Stochastic depth per sample: drop the whole residual branch of some samples."""
    if drop_prob == 0. or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # works with tensors of any rank
    random_tensor = keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device)
    random_tensor.floor_()  # binarize
    return x.div(keep_prob) * random_tensor


class DropPath(nn.Module):
    def __init__(self, drop_prob=None):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        return drop_path(x, self.drop_prob, self.training)


class PatchEmbed(nn.Module):
    def __init__(self, img_size=16, patch_size=4, in_chans=1, embed_dim=32):
        super().__init__()
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        x = self.proj(x)                      # B, D, H/p, W/p
        x = x.flatten(2).transpose(1, 2)      # B, N, D
        return x


class Attention(nn.Module):
    def __init__(self, dim, num_heads=4, qkv_bias=True, attn_drop=0., proj_drop=0.):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        attn = self.attn_drop(attn)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        x = self.proj(x)
        x = self.proj_drop(x)
        return x


class Mlp(nn.Module):
    def __init__(self, in_features, hidden_features, drop=0.):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        x = self.drop(self.act(self.fc1(x)))
        x = self.drop(self.fc2(x))
        return x


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=2., drop=0.1, attn_drop=0., drop_path=0.):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads=num_heads, attn_drop=attn_drop, proj_drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x


class VisionTransformer(nn.Module):
    def __init__(self, img_size=16, patch_size=4, in_chans=1, num_classes=4, embed_dim=32,
                 depth=2, num_heads=4, mlp_ratio=2., drop_rate=0.1, drop_path_rate=0.1):
        super().__init__()
        self.patch_size = patch_size
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dim))
        self.pos_drop = nn.Dropout(p=drop_rate)
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]  # stochastic depth decay rule
        self.blocks = nn.ModuleList([
            Block(embed_dim, num_heads, mlp_ratio, drop=drop_rate, drop_path=dpr[i]) for i in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)

        nn.init.trunc_normal_(self.pos_embed, std=.02)
        nn.init.trunc_normal_(self.cls_token, std=.02)
        self.apply(self._init_weights)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)

    @torch.jit.ignore
    def no_weight_decay(self):
        return {'pos_embed', 'cls_token'}

    def interpolate_pos_encoding(self, x, h, w):
        """Resize the patch position embeddings (bicubic) for images of another size."""
        npatch = x.shape[1] - 1
        N = self.pos_embed.shape[1] - 1
        if npatch == N and w == h:
            return self.pos_embed
        class_pos_embed = self.pos_embed[:, 0]
        patch_pos_embed = self.pos_embed[:, 1:]
        dim = x.shape[-1]
        h0, w0 = h // self.patch_size, w // self.patch_size
        side = int(math.sqrt(N))
        patch_pos_embed = F.interpolate(
            patch_pos_embed.reshape(1, side, side, dim).permute(0, 3, 1, 2),
            size=(h0, w0), mode='bicubic', align_corners=False)
        patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
        return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)

    def forward_features(self, x):
        B, _, h, w = x.shape
        x = self.patch_embed(x)
        cls_tokens = self.cls_token.expand(B, -1, -1)
        x = torch.cat((cls_tokens, x), dim=1)
        x = x + self.interpolate_pos_encoding(x, h, w)
        x = self.pos_drop(x)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return x[:, 0]

    def forward(self, x):
        return self.head(self.forward_features(x))


def param_groups_weight_decay(model, weight_decay=0.05, skip_list=()):
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or name.endswith(".bias") or name in skip_list:
            no_decay.append(param)
        else:
            decay.append(param)
    return [
        {'params': no_decay, 'weight_decay': 0.},
        {'params': decay, 'weight_decay': weight_decay}]


gen = torch.Generator().manual_seed(1234)  # the data are the same for every seed
x_train, y_train = make_stripes(1024, gen)
x_test, y_test = make_stripes(256, gen)
train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, drop_last=True)
test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=128)

model = VisionTransformer().to(device)
print(f"params: {sum(p.numel() for p in model.parameters() if p.requires_grad)}")

epochs = 6
warmup_epochs = 1
steps_per_epoch = len(train_loader)
total_steps = epochs * steps_per_epoch
warmup_steps = warmup_epochs * steps_per_epoch

optimizer = torch.optim.AdamW(param_groups_weight_decay(model, 0.05, skip_list=model.no_weight_decay()),
                              lr=3e-3, betas=(0.9, 0.999))


def lr_lambda(step):
    if step < warmup_steps:
        return float(step + 1) / float(max(1, warmup_steps))
    progress = float(step - warmup_steps) / float(max(1, total_steps - warmup_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
criterion = nn.CrossEntropyLoss(label_smoothing=0.1)


def evaluate():
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    with torch.inference_mode():
        for images, targets in test_loader:
            images, targets = images.to(device), targets.to(device)
            logits = model(images)
            total_loss += F.cross_entropy(logits, targets, reduction='sum').item()
            correct += (logits.argmax(dim=-1) == targets).sum().item()
            n += targets.size(0)
    model.train()
    return total_loss / n, correct / n


for epoch in range(epochs):
    model.train()
    running = 0.0
    for step, (images, targets) in enumerate(train_loader):
        images, targets = images.to(device), targets.to(device)
        logits = model(images)
        loss = criterion(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        scheduler.step()
        running += loss.item()
        if epoch == 0 and step == 0:
            print(f"first batch loss {loss.item():.4f}")
    val_loss, val_acc = evaluate()
    print(f"epoch {epoch}: train loss {running / steps_per_epoch:.4f}, "
          f"val loss {val_loss:.4f}, val acc {val_acc:.3f}, lr {scheduler.get_last_lr()[0]:.2e}")

# the same model on larger images (24 x 24: 36 patches), its position embeddings resized
x_big, y_big = make_stripes(256, gen, img=24)
model.eval()
with torch.no_grad():
    big_acc = (model(x_big.to(device)).argmax(dim=-1) == y_big.to(device)).float().mean().item()
print(f"accuracy on 24x24 images: {big_acc:.3f}")
print(f"final loss {val_loss:.6f}")
