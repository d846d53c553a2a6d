// The result schema shared with the Python peers: JSON fields, round trip, CSV columns.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "runtime/bench/bench_result.h"
#include "tessera/error.h"

namespace tessera::bench {
namespace {

BenchResult measured() {
  BenchResult r;
  r.engine = "tessera";
  r.version = "v";
  r.config = {"bert-base", "cpu", "float32", 8, 128};
  r.threads = 2;
  r.runs = 10;
  r.latency = LatencyStats{100, 120, 105, 95};
  r.load_ms = 0.5;
  r.peak_rss_mb = 450;
  return r;
}

TEST(BenchResult, JsonHasEverySchemaField) {
  nlohmann::json j = measured();
  for (const std::string& column : csv_columns()) EXPECT_TRUE(j.contains(column)) << column;
  EXPECT_EQ(j["model"], "bert-base");
  EXPECT_EQ(j["batch"], 8);
  EXPECT_DOUBLE_EQ(j["median_ms"].get<double>(), 100);
  EXPECT_DOUBLE_EQ(j["tokens_per_s"].get<double>(), 8 * 128 / 0.1);
  EXPECT_TRUE(j["error"].is_null());
  EXPECT_TRUE(j["device_peak_mb"].is_null());
}

TEST(BenchResult, RoundTripsThroughAPeerLine) {
  BenchResult back = parse_result_line(nlohmann::json(measured()).dump());
  EXPECT_EQ(back.engine, "tessera");
  EXPECT_EQ(back.config, measured().config);
  ASSERT_TRUE(back.ok());
  EXPECT_DOUBLE_EQ(back.latency->p90_ms, 120);
  EXPECT_DOUBLE_EQ(back.peak_rss_mb, 450);
}

TEST(BenchResult, ParsesAPeerErrorRow) {
  BenchResult r = parse_result_line(
      R"({"engine": "onnxruntime", "version": "", "model": "m", "device": "cpu", "dtype": "bfloat16",)"
      R"( "batch": 1, "seq": 16, "median_ms": null, "error": "exported as float32 only"})");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error, "exported as float32 only");
  EXPECT_EQ(r.tokens_per_s(), 0);
}

TEST(BenchResult, MalformedLinesAreOneLineErrors) {
  EXPECT_THROW(parse_result_line("{not json"), Error);
  EXPECT_THROW(parse_result_line(R"({"engine": "x"})"), Error);  // no case fields
}

TEST(BenchResult, CsvHeaderRowsAndQuoting) {
  BenchResult failed = measured();
  failed.latency.reset();
  failed.error = "boom, \"quoted\"";
  std::string csv = to_csv({measured(), failed});
  std::string header = csv.substr(0, csv.find('\n'));
  EXPECT_EQ(header,
            "engine,version,model,device,dtype,batch,seq,task,padding,threads,runs,median_ms,p90_ms,mean_ms,min_ms,"
            "tokens_per_s,load_ms,peak_rss_mb,device_peak_mb,vs_tessera,error");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  EXPECT_NE(csv.find("tessera,v,bert-base,cpu,float32,8,128,forward,0.0,2,10,100.0,120.0,105.0,95.0,10240.0,0.5,450.0,,,\n"),
            std::string::npos);
  EXPECT_NE(csv.find(",,,,,0.5,450.0,,,\"boom, \"\"quoted\"\"\"\n"), std::string::npos);
}

}  // namespace
}  // namespace tessera::bench
