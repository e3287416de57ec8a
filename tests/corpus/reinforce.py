# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# REINFORCE in the style of PyTorch's examples/reinforcement_learning, on a small slippery
# corridor written with NumPy instead of gym's CartPole: the agent starts at the left end and
# must walk right to the goal; every step costs -1. The loss reported is the mean number of
# steps to the goal (lower is better), so that runs with different seeds are comparable.
import os
from itertools import count

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributions import Categorical

seed = int(os.environ.get('SEED', 543))
gamma = 0.99
log_interval = 20


class Corridor:
    """Positions 0..length-1; action 0 = left, 1 = right; with probability `slip` the move is reversed."""

    def __init__(self, length=8, slip=0.1, max_steps=60):
        self.length, self.slip, self.max_steps = length, slip, max_steps
        self.rng = np.random.RandomState(0)

    def seed(self, s):
        self.rng = np.random.RandomState(s)

    def _obs(self):
        obs = np.zeros(self.length)
        obs[self.pos] = 1.0
        return obs

    def reset(self):
        self.pos, self.t = 0, 0
        return self._obs()

    def step(self, action):
        move = 1 if action == 1 else -1
        if self.rng.rand() < self.slip:
            move = -move
        self.pos = min(max(self.pos + move, 0), self.length - 1)
        self.t += 1
        done = self.pos == self.length - 1 or self.t >= self.max_steps
        return self._obs(), -1.0, done


env = Corridor()
env.seed(seed)
torch.manual_seed(seed)


class Policy(nn.Module):
    def __init__(self):
        super(Policy, self).__init__()
        self.affine1 = nn.Linear(env.length, 64)
        self.dropout = nn.Dropout(p=0.2)
        self.affine2 = nn.Linear(64, 2)

        self.saved_log_probs = []
        self.rewards = []

    def forward(self, x):
        x = self.affine1(x)
        x = self.dropout(x)
        x = F.relu(x)
        action_scores = self.affine2(x)
        return F.softmax(action_scores, dim=1)


policy = Policy()
optimizer = optim.Adam(policy.parameters(), lr=1e-2)
eps = np.finfo(np.float32).eps.item()


def select_action(state):
    state = torch.from_numpy(state).float().unsqueeze(0)
    probs = policy(state)
    m = Categorical(probs)
    action = m.sample()
    policy.saved_log_probs.append(m.log_prob(action))
    return action.item()


def finish_episode():
    R = 0
    policy_loss = []
    returns = []
    for r in policy.rewards[::-1]:
        R = r + gamma * R
        returns.insert(0, R)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + eps)
    for log_prob, R in zip(policy.saved_log_probs, returns):
        policy_loss.append(-log_prob * R)
    optimizer.zero_grad()
    policy_loss = torch.cat(policy_loss).sum()
    policy_loss.backward()
    optimizer.step()
    del policy.rewards[:]
    del policy.saved_log_probs[:]


def main():
    running_reward = -env.max_steps
    steps = []
    for i_episode in range(1, 101):
        state, ep_reward = env.reset(), 0
        for t in count(1):
            action = select_action(state)
            state, reward, done = env.step(action)
            policy.rewards.append(reward)
            ep_reward += reward
            if done:
                break
        steps.append(t)
        running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
        finish_episode()
        if i_episode % log_interval == 0:
            print('Episode {}\tloss: {:.2f} (mean steps)\tLast reward: {:.2f}\tAverage reward: {:.2f}'.format(
                  i_episode, np.mean(steps[-log_interval:]), ep_reward, running_reward))

    # evaluate the trained policy (dropout off, actions still sampled) on fresh episodes
    policy.eval()
    env.seed(10_000 + seed)
    eval_steps = []
    with torch.no_grad():
        for _ in range(100):
            state = env.reset()
            for t in count(1):
                state, _, done = env.step(select_action(state))
                if done:
                    break
            eval_steps.append(t)
    del policy.saved_log_probs[:]
    print(f"final loss {np.mean(eval_steps):.4f}")


if __name__ == '__main__':
    main()
