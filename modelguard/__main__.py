"""``python -m modelguard``"""

from modelguard.cli import main

main()
