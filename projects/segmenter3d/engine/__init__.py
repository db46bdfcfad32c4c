from .atomic_local_backend import AtomicLocalBackend
from .rng_state_hook import RNGStateHook

__all__ = ['AtomicLocalBackend', 'RNGStateHook']
