// Tests for the progress line of `warmpool map` (client/cli/map_progress.hpp): when it is shown,
// how often it is redrawn, the rate and time left, its text, and what the meter writes.

#include "map_progress.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace warmpool::cli {
namespace {

TEST(MapProgressTest, ShownOnATerminalUnlessForced) {
    EXPECT_TRUE(progress_wanted(ProgressMode::automatic, true));
    EXPECT_FALSE(progress_wanted(ProgressMode::automatic, false));
    EXPECT_TRUE(progress_wanted(ProgressMode::on, false));
    EXPECT_TRUE(progress_wanted(ProgressMode::on, true));
    EXPECT_FALSE(progress_wanted(ProgressMode::off, true));
    EXPECT_FALSE(progress_wanted(ProgressMode::off, false));
}

TEST(MapProgressTest, RedrawnAtMostTenTimesASecond) {
    EXPECT_TRUE(redraw_due(1'000'000'000, 0));
    EXPECT_FALSE(redraw_due(1'099'999'999, 1'000'000'000));
    EXPECT_TRUE(redraw_due(1'100'000'000, 1'000'000'000));
}

TEST(MapProgressTest, RateAndTimeLeft) {
    ProgressFigures f{250, 1000, 2.5};
    EXPECT_DOUBLE_EQ(items_per_second(f), 100.0);
    ASSERT_TRUE(seconds_left(f).has_value());
    EXPECT_DOUBLE_EQ(*seconds_left(f), 7.5);
    f.total.reset();
    EXPECT_FALSE(seconds_left(f).has_value());  // no total, no time left
    EXPECT_DOUBLE_EQ(items_per_second(ProgressFigures{0, 10, 0}), 0.0);
    EXPECT_FALSE(seconds_left(ProgressFigures{0, 10, 1.0}).has_value());  // no rate yet
    ASSERT_TRUE(seconds_left(ProgressFigures{12, 10, 1.0}).has_value());
    EXPECT_DOUBLE_EQ(*seconds_left(ProgressFigures{12, 10, 1.0}), 0.0);  // never negative
}

TEST(MapProgressTest, DurationsReadShort) {
    EXPECT_EQ(duration_text(0), "0s");
    EXPECT_EQ(duration_text(4.2), "5s");  // rounded up: never "0s" while some is left
    EXPECT_EQ(duration_text(65), "1m05s");
    EXPECT_EQ(duration_text(3599), "59m59s");
    EXPECT_EQ(duration_text(7380), "2h03m");
    EXPECT_EQ(duration_text(-3), "0s");
}

TEST(MapProgressTest, LineShowsDoneTotalRateAndEta) {
    EXPECT_EQ(progress_line(ProgressFigures{1234, 5000, 1.5}), "map: 1234/5000 (24%)  823/s  ETA 5s");
    EXPECT_EQ(progress_line(ProgressFigures{0, 5000, 0}), "map: 0/5000 (0%)  0.0/s");
    EXPECT_EQ(progress_line(ProgressFigures{5000, 5000, 2}), "map: 5000/5000 (100%)  2500/s  ETA 0s");
    EXPECT_EQ(progress_line(ProgressFigures{30, std::nullopt, 4}), "map: 30 done  7.5/s");
    EXPECT_EQ(progress_line(ProgressFigures{0, 0, 1}), "map: 0/0 (100%)  0.0/s");
}

// The meter's output, through a real stream.
std::string written(std::FILE* file) {
    std::fflush(file);
    std::rewind(file);
    std::string text;
    char buf[4096];
    while (const std::size_t n = std::fread(buf, 1, sizeof buf, file)) text.append(buf, n);
    return text;
}

TEST(MapProgressTest, MeterDrawsInPlaceAndClearsTheLine) {
    std::FILE* file = std::tmpfile();
    ASSERT_NE(file, nullptr);
    {
        ProgressMeter meter(file, true);
        meter.set_total(3);
        meter.show();
        meter.item_done();  // within a tenth of a second of the last draw: not drawn
        meter.item_done();
        meter.item_done();
        EXPECT_EQ(meter.done(), 3u);
    }  // cleared as it goes
    const std::string text = written(file);
    EXPECT_EQ(text.rfind("\rmap: 0/3 (0%)  0.0/s", 0), 0u) << text;
    const std::size_t width = std::string("map: 0/3 (0%)  0.0/s").size();
    EXPECT_EQ(text.substr(text.size() - width - 2), "\r" + std::string(width, ' ') + "\r") << text;
    std::fclose(file);
}

TEST(MapProgressTest, MeterThatIsOffWritesNothing) {
    std::FILE* file = std::tmpfile();
    ASSERT_NE(file, nullptr);
    {
        ProgressMeter meter(file, false);
        meter.set_total(3);
        meter.show();
        meter.item_done();
        meter.hide();
        EXPECT_EQ(meter.done(), 0u);
    }
    EXPECT_EQ(written(file), "");
    std::fclose(file);
}

}  // namespace
}  // namespace warmpool::cli
