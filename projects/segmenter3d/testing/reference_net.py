"""A plain, independent implementation of the reference 3D Segmenter network.

Written from the reference details in DESIGN.md, in the reference release's key layout
(``encoder.patch_embed.layers...``), with Video Swin's explicit softmax attention, slice-built
shift masks and slice-built patch merging. It imports nothing from ``segmenter3d`` so that the
converter and the fused attention are checked against something that was not derived from them.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

WINDOW = 8


def window_size_for(grid, window, shift):
    win, sh = list(window), list(shift)
    for i in range(3):
        if grid[i] <= window[i]:
            win[i], sh[i] = grid[i], 0
    return tuple(win), tuple(sh)


def partition(x, w):
    B, D, H, W, C = x.shape
    x = x.view(B, D // w[0], w[0], H // w[1], w[1], W // w[2], w[2], C)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, w[0] * w[1] * w[2], C)


def reverse(win, w, B, D, H, W):
    x = win.view(B, D // w[0], H // w[1], W // w[2], w[0], w[1], w[2], -1)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(B, D, H, W, -1)


def slice_mask(Dp, Hp, Wp, w, s):
    img = torch.zeros(1, Dp, Hp, Wp, 1)
    cnt = 0
    for d in (slice(-w[0]), slice(-w[0], -s[0]), slice(-s[0], None)):
        for h in (slice(-w[1]), slice(-w[1], -s[1]), slice(-s[1], None)):
            for ww in (slice(-w[2]), slice(-w[2], -s[2]), slice(-s[2], None)):
                img[:, d, h, ww, :] = cnt
                cnt += 1
    mw = partition(img, w).squeeze(-1)
    m = mw.unsqueeze(1) - mw.unsqueeze(2)
    return m.masked_fill(m != 0, -100.0).masked_fill(m == 0, 0.0)


def rel_index(w):
    coords = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w), torch.arange(w),
                                        indexing='ij')).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += w - 1
    rel[:, :, 1] += w - 1
    rel[:, :, 2] += w - 1
    rel[:, :, 0] *= (2 * w - 1) * (2 * w - 1)
    rel[:, :, 1] *= (2 * w - 1)
    return rel.sum(-1)


class Attn(nn.Module):

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads)**-0.5
        self.relative_position_bias_table = nn.Parameter(torch.randn((2 * WINDOW - 1)**3, heads))
        self.register_buffer('relative_position_index', rel_index(WINDOW))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask):
        B_, N, C = x.shape
        qkv = self.qkv(x).reshape(B_, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[
            self.relative_position_index[:N, :N].reshape(-1)].reshape(N, N, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nW = mask.shape[0]
            attn = attn.view(B_ // nW, nW, self.heads, N, N) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, N, N)
        attn = attn.softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B_, N, C))


class Mlp(nn.Module):

    def __init__(self, dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):

    def __init__(self, dim, heads, shift):
        super().__init__()
        self.shift = (WINDOW // 2, ) * 3 if shift else (0, 0, 0)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attn(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim)

    def forward(self, x, mask_matrix):
        B, D, H, W, C = x.shape
        w, s = window_size_for((D, H, W), (WINDOW, ) * 3, self.shift)
        shortcut = x
        x = self.norm1(x)
        pd, ph, pw = [(w[i] - n % w[i]) % w[i] for i, n in enumerate((D, H, W))]
        x = F.pad(x, (0, 0, 0, pw, 0, ph, 0, pd))
        _, Dp, Hp, Wp, _ = x.shape
        if any(i > 0 for i in s):
            x = torch.roll(x, shifts=(-s[0], -s[1], -s[2]), dims=(1, 2, 3))
            mask = mask_matrix
        else:
            mask = None
        x = reverse(self.attn(partition(x, w), mask), w, B, Dp, Hp, Wp)
        if any(i > 0 for i in s):
            x = torch.roll(x, shifts=s, dims=(1, 2, 3))
        x = shortcut + x[:, :D, :H, :W, :]
        return x + self.mlp(self.norm2(x))


class Merge(nn.Module):

    def __init__(self, dim):
        super().__init__()
        self.reduction = nn.Linear(8 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(8 * dim)

    def forward(self, x):
        parts = []
        for dz in (0, 1):
            for dy in (0, 1):
                for dx in (0, 1):
                    parts.append(x[:, dx::2, dy::2, dz::2, :])
        return self.reduction(self.norm(torch.cat(parts, -1)))


class Layer(nn.Module):

    def __init__(self, dim, depth, heads, downsample):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim, heads, i % 2 == 1) for i in range(depth)])
        self.downsample = Merge(dim) if downsample else None

    def forward(self, x):
        B, D, H, W, C = x.shape
        w, s = window_size_for((D, H, W), (WINDOW, ) * 3, (WINDOW // 2, ) * 3)
        Dp, Hp, Wp = [-(-n // w[i]) * w[i] for i, n in enumerate((D, H, W))]
        mask = slice_mask(Dp, Hp, Wp, w, s)
        for blk in self.blocks:
            x = blk(x, mask)
        return self.downsample(x) if self.downsample is not None else x


class PatchEmbed(nn.Module):

    def __init__(self, in_ch, dim):
        super().__init__()
        self.proj = nn.Conv3d(in_ch, dim, 4, 4)


class Swin(nn.Module):

    def __init__(self, in_ch, dim, depths, heads):
        super().__init__()
        self.patch_embed = PatchEmbed(in_ch, dim)
        self.layers = nn.ModuleList([
            Layer(dim * 2**i, d, h, i < len(depths) - 1)
            for i, (d, h) in enumerate(zip(depths, heads))
        ])
        self.norm = nn.LayerNorm(dim * 2**(len(depths) - 1))

    def forward(self, x):
        x = self.patch_embed.proj(x).permute(0, 2, 3, 4, 1)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


class Encoder(nn.Module):

    def __init__(self, in_ch, dim, depths, heads):
        super().__init__()
        self.patch_embed = Swin(in_ch, dim, depths, heads)
        self.norm = nn.LayerNorm(dim * 2**(len(depths) - 1))

    def forward(self, x):
        return self.norm(self.patch_embed(x))


class Decoder(nn.Module):

    def __init__(self, dim, classes):
        super().__init__()
        self.head = nn.Linear(dim, classes)


class ReferenceSegmenter3D(nn.Module):
    """The reference network: ``forward`` maps (B, 4, D, H, W) to (B, K, D, H, W) logits."""

    def __init__(self, embed_dim, depths, heads, num_classes=30, in_ch=4):
        super().__init__()
        self.encoder = Encoder(in_ch, embed_dim, depths, heads)
        self.decoder = Decoder(embed_dim * 2**(len(depths) - 1), num_classes)
        self.output = nn.Linear(num_classes + in_ch, num_classes)
        self.divisor = 4 * 2**(len(depths) - 1)

    def forward(self, x):
        D, H, W = x.shape[2:]
        pads = [(-n) % self.divisor for n in (D, H, W)]
        x = F.pad(x, (0, pads[2], 0, pads[1], 0, pads[0]))
        tokens = self.encoder(x)
        y = self.decoder.head(tokens).permute(0, 4, 1, 2, 3)
        y = F.interpolate(y, size=x.shape[2:], mode='trilinear', align_corners=False)
        out = self.output(torch.cat([y, x], 1).permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        return out[:, :, :D, :H, :W]


REFERENCE_VARIANTS = {
    't': (48, [2, 2], [3, 3]),
    'b': (48, [2, 4], [3, 3]),
    'm': (64, [3, 6], [4, 4]),
    'l': (96, [4, 8], [6, 6]),
}
