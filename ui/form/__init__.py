"""The record form: one generic builder turns a dataset definition into tabs of inputs.

``ui.form.window.RecordWindow`` is what the main window opens; ``builder`` lays out the rows;
``widgets`` holds one input class per question type; ``values`` converts typed text to stored
answers and back.
"""
