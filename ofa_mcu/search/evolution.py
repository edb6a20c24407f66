"""Evolutionary search over a space, keeping only feasible candidates (as in Once-for-All).

A genome holds the resolution, the depth of every stage and a (kernel, expand) for every block
slot up to the stage's maximum depth; the subnet uses the first ``depth`` slots. Each generation
keeps the best quarter as parents and fills the rest half by mutation (every gene resampled with
probability ``mutate_prob``) and half by crossover (every gene from either parent). Candidates
that break a constraint are never admitted. Everything is driven by one seeded RNG.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ofa_mcu.config import BlockChoice, SubnetConfig
from ofa_mcu.space import SearchSpace

Genome = tuple  # (resolution, depths tuple, blocks tuple of tuples of (k, e)) -- hashable


@dataclass
class EvolutionSettings:
    population: int = 100
    generations: int = 30
    parent_ratio: float = 0.25
    mutation_ratio: float = 0.5
    mutate_prob: float = 0.1
    max_tries: int = 500  # attempts to draw one feasible child before giving up on it


class Evolution:
    def __init__(self, space: SearchSpace, feasible: Callable[[SubnetConfig], bool],
                 fitness: Callable[[list[SubnetConfig]], np.ndarray], seed: int,
                 settings: EvolutionSettings | None = None) -> None:
        self.space = space
        self.feasible = feasible
        self.fitness = fitness
        self.rng = random.Random(seed)
        self.s = settings or EvolutionSettings()
        self.evaluated = 0  # constraint checks made

    # ---- genome <-> config ------------------------------------------------------------------
    def random_genome(self) -> Genome:
        r, sp = self.rng, self.space
        return (r.choice(sp.resolutions), tuple(r.choice(st.depths) for st in sp.stages),
                tuple(tuple((r.choice(sp.kernels), r.choice(sp.expands)) for _ in range(st.max_depth))
                      for st in sp.stages))

    @staticmethod
    def genome_of(cfg: SubnetConfig, space: SearchSpace) -> Genome:
        blocks = []
        for st, spec in zip(cfg.stages, space.stages):
            slots = [(b.kernel, b.expand) for b in st]
            slots += [(space.kernels[0], space.expands[0])] * (spec.max_depth - len(slots))
            blocks.append(tuple(slots))
        return (cfg.resolution, cfg.depths, tuple(blocks))

    def config(self, g: Genome) -> SubnetConfig:
        res, depths, blocks = g
        stages = tuple(tuple(BlockChoice(k, e) for k, e in slots[:d]) for d, slots in zip(depths, blocks))
        return SubnetConfig(res, stages, self.space.name)

    def _ok(self, g: Genome) -> bool:
        self.evaluated += 1
        return self.feasible(self.config(g))

    # ---- operators ------------------------------------------------------------------------
    def mutate(self, g: Genome, prob: float) -> Genome:
        r, sp = self.rng, self.space
        res = r.choice(sp.resolutions) if r.random() < prob else g[0]
        depths = tuple(r.choice(st.depths) if r.random() < prob else d for d, st in zip(g[1], sp.stages))
        blocks = tuple(tuple((r.choice(sp.kernels) if r.random() < prob else k,
                              r.choice(sp.expands) if r.random() < prob else e) for k, e in slots)
                       for slots in g[2])
        return (res, depths, blocks)

    def crossover(self, a: Genome, b: Genome) -> Genome:
        r = self.rng
        res = r.choice((a[0], b[0]))
        depths = tuple(r.choice(pair) for pair in zip(a[1], b[1]))
        blocks = tuple(tuple(r.choice(pair) for pair in zip(sa, sb)) for sa, sb in zip(a[2], b[2]))
        return (res, depths, blocks)

    def _draw(self, make: Callable[[], Genome]) -> Genome | None:
        for _ in range(self.s.max_tries):
            g = make()
            if self._ok(g):
                return g
        return None

    # ---- the loop -------------------------------------------------------------------------
    def initial(self, seeds: list[SubnetConfig]) -> list[Genome]:
        """Random feasible genomes; when the budget is tight, mutations of the feasible ones."""
        pop: list[Genome] = [self.genome_of(c, self.space) for c in seeds if self._ok(self.genome_of(c, self.space))]
        tries = 0
        while len(pop) < self.s.population and tries < self.s.population * 20:
            tries += 1
            g = self.random_genome()
            if self._ok(g):
                pop.append(g)
        while len(pop) < self.s.population and pop:
            g = self._draw(lambda: self.mutate(self.rng.choice(pop), 0.3))
            if g is None:
                break
            pop.append(g)
        return pop

    def run(self, seeds: list[SubnetConfig],
            on_generation: Callable[[int, float], None] | None = None) -> tuple[list[SubnetConfig], list[SubnetConfig]]:
        """Return (final population sorted best first, every distinct feasible candidate seen)."""
        pop = self.initial(seeds)
        if not pop:
            return [], []
        archive: dict[Genome, None] = dict.fromkeys(pop)
        n_parents = max(1, int(self.s.population * self.s.parent_ratio))
        n_mutate = int(self.s.population * self.s.mutation_ratio)
        for gen in range(self.s.generations):
            scores = self.fitness([self.config(g) for g in pop])
            order = np.argsort(-scores, kind="stable")
            parents = [pop[i] for i in order[:n_parents]]
            if on_generation:
                on_generation(gen, float(scores[order[0]]))
            children: list[Genome] = []
            for _ in range(n_mutate):
                g = self._draw(lambda ps=parents: self.mutate(self.rng.choice(ps), self.s.mutate_prob))
                if g is not None:
                    children.append(g)
            while len(parents) + len(children) < self.s.population:
                g = self._draw(lambda ps=parents: self.crossover(self.rng.choice(ps), self.rng.choice(ps)))
                if g is None:
                    break
                children.append(g)
            pop = parents + children
            archive.update(dict.fromkeys(children))
        scores = self.fitness([self.config(g) for g in pop])
        order = np.argsort(-scores, kind="stable")
        ranked = list(dict.fromkeys(self.config(pop[i]) for i in order))
        return ranked, list(dict.fromkeys(self.config(g) for g in archive))
