from iu_core.cli import main

main()
