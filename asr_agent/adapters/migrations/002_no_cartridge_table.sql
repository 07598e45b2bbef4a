-- Cartridge lives are read from the samples by the consumption analysis, the one model of
-- them; the table a second model kept beside it goes.
DROP TABLE cartridges;
