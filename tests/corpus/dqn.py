# ruff: noqa  (written as PyTorch programs are written in the wild, not to this project's style)
# DQN in the style of PyTorch's reinforcement Q-learning tutorial, on a small grid walk written with
# NumPy instead of gym: the agent starts in one corner of a 5 x 5 grid and must reach the opposite
# corner; every step costs -1. Replay memory, a target network updated softly, Huber loss, AdamW
# with amsgrad. The loss reported is the mean number of steps of greedy evaluation episodes.
import math
import os
import random
from collections import namedtuple, deque
from itertools import count

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

seed = int(os.environ.get('SEED', 0))
random.seed(seed)
torch.manual_seed(seed)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class GridWalk:
    """A size x size grid; actions 0..3 = up, down, left, right; the goal is the far corner."""

    def __init__(self, size=5, max_steps=40):
        self.size, self.max_steps = size, max_steps
        self.n_actions = 4
        self.n_observations = 2 * size

    def _obs(self):
        obs = np.zeros(2 * self.size, dtype=np.float32)
        obs[self.r] = 1.0
        obs[self.size + self.c] = 1.0
        return obs

    def reset(self):
        self.r, self.c, self.t = 0, 0, 0
        return self._obs()

    def step(self, action):
        dr, dc = [(-1, 0), (1, 0), (0, -1), (0, 1)][action]
        self.r = min(max(self.r + dr, 0), self.size - 1)
        self.c = min(max(self.c + dc, 0), self.size - 1)
        self.t += 1
        terminated = self.r == self.size - 1 and self.c == self.size - 1
        truncated = self.t >= self.max_steps
        return self._obs(), -1.0, terminated, truncated


env = GridWalk()

Transition = namedtuple('Transition', ('state', 'action', 'next_state', 'reward'))


class ReplayMemory(object):

    def __init__(self, capacity):
        self.memory = deque([], maxlen=capacity)

    def push(self, *args):
        """Save a transition"""
        self.memory.append(Transition(*args))

    def sample(self, batch_size):
        return random.sample(self.memory, batch_size)

    def __len__(self):
        return len(self.memory)


class DQN(nn.Module):

    def __init__(self, n_observations, n_actions):
        super(DQN, self).__init__()
        self.layer1 = nn.Linear(n_observations, 64)
        self.layer2 = nn.Linear(64, 64)
        self.layer3 = nn.Linear(64, n_actions)

    def forward(self, x):
        x = F.relu(self.layer1(x))
        x = F.relu(self.layer2(x))
        return self.layer3(x)


BATCH_SIZE = 64
GAMMA = 0.95
EPS_START = 0.9
EPS_END = 0.05
EPS_DECAY = 300
TAU = 0.01
LR = 1e-3

n_actions = env.n_actions
n_observations = env.n_observations

policy_net = DQN(n_observations, n_actions).to(device)
target_net = DQN(n_observations, n_actions).to(device)
target_net.load_state_dict(policy_net.state_dict())

optimizer = optim.AdamW(policy_net.parameters(), lr=LR, amsgrad=True)
memory = ReplayMemory(5000)

steps_done = 0


def select_action(state):
    global steps_done
    sample = random.random()
    eps_threshold = EPS_END + (EPS_START - EPS_END) * math.exp(-1. * steps_done / EPS_DECAY)
    steps_done += 1
    if sample > eps_threshold:
        with torch.no_grad():
            return policy_net(state).max(1).indices.view(1, 1)
    else:
        return torch.tensor([[random.randrange(n_actions)]], device=device, dtype=torch.long)


def optimize_model():
    if len(memory) < BATCH_SIZE:
        return None
    transitions = memory.sample(BATCH_SIZE)
    batch = Transition(*zip(*transitions))

    non_final_mask = torch.tensor(tuple(map(lambda s: s is not None, batch.next_state)),
                                  device=device, dtype=torch.bool)
    non_final_next_states = torch.cat([s for s in batch.next_state if s is not None])
    state_batch = torch.cat(batch.state)
    action_batch = torch.cat(batch.action)
    reward_batch = torch.cat(batch.reward)

    state_action_values = policy_net(state_batch).gather(1, action_batch)

    next_state_values = torch.zeros(BATCH_SIZE, device=device)
    with torch.no_grad():
        next_state_values[non_final_mask] = target_net(non_final_next_states).max(1).values
    expected_state_action_values = (next_state_values * GAMMA) + reward_batch

    criterion = nn.SmoothL1Loss()
    loss = criterion(state_action_values, expected_state_action_values.unsqueeze(1))

    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_value_(policy_net.parameters(), 100)
    optimizer.step()
    return loss.item()


def greedy_steps(n_episodes=5):
    steps = []
    for _ in range(n_episodes):
        state = torch.tensor(env.reset(), dtype=torch.float32, device=device).unsqueeze(0)
        for t in count(1):
            with torch.no_grad():
                action = policy_net(state).argmax(1).item()
            observation, _, terminated, truncated = env.step(action)
            state = torch.tensor(observation, dtype=torch.float32, device=device).unsqueeze(0)
            if terminated or truncated:
                break
        steps.append(t)
    return float(np.mean(steps))


num_episodes = 50
episode_durations = []
print(f"episode 0 loss: {greedy_steps(1):.2f} (greedy steps)")
for i_episode in range(num_episodes):
    state = env.reset()
    state = torch.tensor(state, dtype=torch.float32, device=device).unsqueeze(0)
    for t in count():
        action = select_action(state)
        observation, reward, terminated, truncated = env.step(action.item())
        reward = torch.tensor([reward], device=device)
        done = terminated or truncated

        if terminated:
            next_state = None
        else:
            next_state = torch.tensor(observation, dtype=torch.float32, device=device).unsqueeze(0)

        memory.push(state, action, next_state, reward)
        state = next_state

        optimize_model()

        # soft update of the target network's weights: θ′ ← τ θ + (1 −τ )θ′
        target_net_state_dict = target_net.state_dict()
        policy_net_state_dict = policy_net.state_dict()
        for key in policy_net_state_dict:
            target_net_state_dict[key] = policy_net_state_dict[key]*TAU + target_net_state_dict[key]*(1-TAU)
        target_net.load_state_dict(target_net_state_dict)

        if done:
            episode_durations.append(t + 1)
            break
    if (i_episode + 1) % 10 == 0:
        print(f"episode {i_episode + 1} mean duration {np.mean(episode_durations[-10:]):.1f}")

print(f"final loss {greedy_steps(1):.4f}")
