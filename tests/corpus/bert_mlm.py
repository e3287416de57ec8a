# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# A tiny BERT-style masked language model in the idioms of Hugging Face-style model code:
# token + learned position + token-type embeddings with a position_ids buffer registered
# non-persistent, an extended attention mask built as (1 - mask[:, None, None, :]) *
# torch.finfo(dtype).min, hand-written self-attention with transpose_for_scores, GELU(tanh),
# post-LayerNorm blocks, an MLM head tied to the word embeddings, the 80/10/10 masking rule
# with ignore_index=-100 labels, init through self.apply with normal_(std=0.02), AdamW with
# no decay on biases and LayerNorm weights, linear warmup + decay via LambdaLR, gradient
# accumulation, clip_grad_norm_, shape checks against torch.Size.
# Data: sequences made by a small grammar of "words" (token runs), padded to the batch's length.
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

seed = int(os.environ.get('SEED', 0))
torch.manual_seed(seed)
device = "cuda" if torch.cuda.is_available() else "cpu"

PAD, CLS, SEP, MASK = 0, 1, 2, 3
N_SPECIAL = 4
VOCAB = 40
MAX_LEN = 24


def make_grammar(generator, n_words=12):
    """'Words' (fixed runs of 2-3 tokens) and a Markov chain over them."""
    words = [torch.randint(N_SPECIAL, VOCAB, (2 + i % 2,), generator=generator) for i in range(n_words)]
    trans = torch.softmax(3.0 * torch.randn(n_words, n_words, generator=generator), dim=-1)
    return words, trans


def make_corpus(n, grammar, generator):
    """Sentences of words chosen by the chain, between [CLS] and [SEP]."""
    words, trans = grammar
    n_words = len(words)
    sents = []
    for _ in range(n):
        w = int(torch.randint(0, n_words, (1,), generator=generator))
        toks = [CLS]
        while len(toks) < MAX_LEN - 4:
            toks += words[w].tolist()
            w = int(torch.multinomial(trans[w], 1, generator=generator))
            if torch.rand(1, generator=generator).item() < 0.15:
                break
        toks.append(SEP)
        sents.append(torch.tensor(toks[:MAX_LEN]))
    return sents


def collate(batch):
    lengths = [len(s) for s in batch]
    ids = torch.full((len(batch), max(lengths)), PAD, dtype=torch.long)
    for i, s in enumerate(batch):
        ids[i, :len(s)] = s
    attention_mask = (ids != PAD).long()
    return ids, attention_mask


def mask_tokens(inputs, attention_mask, mlm_probability=0.15):
    """BERT's rule: 15% of the real tokens are predicted; of those 80% -> [MASK], 10% random, 10% kept."""
    labels = inputs.clone()
    probability_matrix = torch.full(labels.shape, mlm_probability)
    special = (inputs == CLS) | (inputs == SEP) | (attention_mask == 0)
    probability_matrix.masked_fill_(special, value=0.0)
    masked_indices = torch.bernoulli(probability_matrix).bool()
    labels[~masked_indices] = -100
    inputs = inputs.clone()
    indices_replaced = torch.bernoulli(torch.full(labels.shape, 0.8)).bool() & masked_indices
    inputs[indices_replaced] = MASK
    indices_random = torch.bernoulli(torch.full(labels.shape, 0.5)).bool() & masked_indices & ~indices_replaced
    random_words = torch.randint(N_SPECIAL, VOCAB, labels.shape, dtype=torch.long)
    inputs[indices_random] = random_words[indices_random]
    return inputs, labels


class Config:
    vocab_size = VOCAB
    hidden_size = 32
    num_hidden_layers = 2
    num_attention_heads = 4
    intermediate_size = 64
    max_position_embeddings = MAX_LEN
    type_vocab_size = 2
    hidden_dropout_prob = 0.1
    attention_probs_dropout_prob = 0.1
    layer_norm_eps = 1e-12
    initializer_range = 0.02


class BertEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=PAD)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)),
                             persistent=False)

    def forward(self, input_ids, token_type_ids=None):
        input_shape = input_ids.size()
        seq_length = input_shape[1]
        position_ids = self.position_ids[:, :seq_length]
        if token_type_ids is None:
            token_type_ids = torch.zeros(input_shape, dtype=torch.long, device=input_ids.device)
        embeddings = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class BertSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(config.hidden_size, self.all_head_size)
        self.key = nn.Linear(config.hidden_size, self.all_head_size)
        self.value = nn.Linear(config.hidden_size, self.all_head_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def transpose_for_scores(self, x):
        new_x_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)
        x = x.view(new_x_shape)
        return x.permute(0, 2, 1, 3)

    def forward(self, hidden_states, attention_mask=None):
        query_layer = self.transpose_for_scores(self.query(hidden_states))
        key_layer = self.transpose_for_scores(self.key(hidden_states))
        value_layer = self.transpose_for_scores(self.value(hidden_states))
        attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
        attention_scores = attention_scores / math.sqrt(self.attention_head_size)
        if attention_mask is not None:
            attention_scores = attention_scores + attention_mask
        attention_probs = nn.functional.softmax(attention_scores, dim=-1)
        attention_probs = self.dropout(attention_probs)
        context_layer = torch.matmul(attention_probs, value_layer)
        context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
        new_context_layer_shape = context_layer.size()[:-2] + (self.all_head_size,)
        return context_layer.view(new_context_layer_shape)


class BertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = BertSelfAttention(config)
        self.attention_output = nn.Linear(config.hidden_size, config.hidden_size)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = nn.GELU(approximate="tanh")
        self.output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.output_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, attention_mask=None):
        attn = self.dropout(self.attention_output(self.attention(hidden_states, attention_mask)))
        hidden_states = self.attention_norm(attn + hidden_states)
        inter = self.intermediate_act_fn(self.intermediate(hidden_states))
        out = self.dropout(self.output(inter))
        return self.output_norm(out + hidden_states)


class BertForMaskedLM(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])
        self.transform = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = nn.GELU(approximate="tanh")
        self.transform_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.apply(self._init_weights)
        self.decoder.weight = self.embeddings.word_embeddings.weight  # tie_weights

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)

    def get_extended_attention_mask(self, attention_mask, dtype):
        extended_attention_mask = attention_mask[:, None, None, :].to(dtype=dtype)
        return (1.0 - extended_attention_mask) * torch.finfo(dtype).min

    def forward(self, input_ids, attention_mask, labels=None):
        hidden_states = self.embeddings(input_ids)
        extended = self.get_extended_attention_mask(attention_mask, hidden_states.dtype)
        for layer_module in self.layer:
            hidden_states = layer_module(hidden_states, extended)
        h = self.transform_norm(self.transform_act_fn(self.transform(hidden_states)))
        prediction_scores = self.decoder(h) + self.bias
        loss = None
        if labels is not None:
            loss = F.cross_entropy(prediction_scores.view(-1, self.config.vocab_size), labels.view(-1),
                                   ignore_index=-100)
        return loss, prediction_scores


config = Config()
data_gen = torch.Generator().manual_seed(1234)  # the data are fixed; SEED drives the weights and masking
grammar = make_grammar(data_gen)
train_sents = make_corpus(512, grammar, data_gen)
val_sents = make_corpus(96, grammar, data_gen)

model = BertForMaskedLM(config).to(device)
assert model.decoder.weight is model.embeddings.word_embeddings.weight

no_decay = ["bias", "LayerNorm.weight", "_norm.weight"]
optimizer_grouped_parameters = [
    {"params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)],
     "weight_decay": 0.01},
    {"params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)],
     "weight_decay": 0.0},
]
optimizer = torch.optim.AdamW(optimizer_grouped_parameters, lr=3e-3, eps=1e-6)

batch_size, grad_accum, epochs = 16, 2, 8
steps_per_epoch = len(train_sents) // (batch_size * grad_accum)
num_training_steps = epochs * steps_per_epoch
num_warmup_steps = num_training_steps // 10


def lr_lambda(current_step):
    if current_step < num_warmup_steps:
        return float(current_step) / float(max(1, num_warmup_steps))
    return max(0.0, float(num_training_steps - current_step) / float(max(1, num_training_steps - num_warmup_steps)))


scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)


@torch.no_grad()
def evaluate():
    model.eval()
    g = torch.Generator().manual_seed(99)  # the same masks every evaluation
    total, count, correct = 0.0, 0, 0
    for i in range(0, len(val_sents), 32):
        ids, attn = collate(val_sents[i:i + 32])
        probs = torch.full(ids.shape, 0.15)
        probs.masked_fill_((ids == CLS) | (ids == SEP) | (attn == 0), 0.0)
        chosen = torch.bernoulli(probs, generator=g).bool()
        inputs = ids.masked_fill(chosen, MASK)
        labels = ids.masked_fill(~chosen, -100)
        loss, scores = model(inputs.to(device), attn.to(device), labels.to(device))
        n = int((labels != -100).sum())
        total += loss.item() * n
        count += n
        correct += int(((scores.argmax(dim=-1) == labels) & (labels != -100)).sum())
    model.train()
    return total / max(count, 1), correct / max(count, 1)


for epoch in range(epochs):
    perm = torch.randperm(len(train_sents))
    running = 0.0
    for step in range(steps_per_epoch):
        for micro in range(grad_accum):
            start = (step * grad_accum + micro) * batch_size
            batch = [train_sents[j] for j in perm[start:start + batch_size].tolist()]
            ids, attn = collate(batch)
            inputs, labels = mask_tokens(ids, attn)
            assert inputs.shape == torch.Size([batch_size, ids.size(1)])
            loss, _ = model(inputs.to(device), attn.to(device), labels.to(device))
            (loss / grad_accum).backward()
            running += loss.item() / grad_accum
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    val_loss, val_acc = evaluate()
    print(f"epoch {epoch} train loss {running / steps_per_epoch:.4f} val loss {val_loss:.4f} "
          f"val acc {val_acc:.3f} lr {scheduler.get_last_lr()[0]:.2e}")

val_loss, val_acc = evaluate()
print(f"final loss {val_loss:.6f}")
