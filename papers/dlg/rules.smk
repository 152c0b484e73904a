# dlg: no paper-specific rules; the generic train/sample/evaluate/collect rules in the Snakefile cover every experiment.
