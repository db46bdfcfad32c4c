"""Installs the ``segmenter3d`` OpenMMLab plugin from ``projects/segmenter3d``."""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name: str) -> list:
    """Requirement lines of ``requirements/<name>.txt`` without comments."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def read_version() -> str:
    with open(osp.join(HERE, 'projects', 'segmenter3d', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


setup(
    name='segmenter3d',
    version=read_version(),
    description='3D Segmenter: 3D Swin Transformer semantic segmentation with 2D panoramic '
    'distillation, as an OpenMMLab (mmseg) plugin',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    python_requires='>=3.8',
    package_dir={'segmenter3d': 'projects/segmenter3d'},
    packages=['segmenter3d'] + [
        'segmenter3d.' + p for p in find_packages('projects/segmenter3d')
    ],
    install_requires=read_requirements('runtime'),
    extras_require={
        'all': read_requirements('mminstall') + read_requirements('optional'),
        'mim': read_requirements('mminstall'),
        'optional': read_requirements('optional'),
        'tests': read_requirements('tests'),
    },
    package_data={'segmenter3d': ['*.csv']},
    zip_safe=False,
)
